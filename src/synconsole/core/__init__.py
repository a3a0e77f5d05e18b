"""The domain core: storage, classification, metrics, queue and actions. Never imports textual."""
