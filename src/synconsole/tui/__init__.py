"""The full-screen console (Textual). Thin: it shows what core computes and calls core's actions."""
