def label_function(text):
    stripped = text.strip()
    if stripped.endswith("?") and len(stripped) < 60:
        return 0
    return -1
