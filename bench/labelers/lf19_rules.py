def label_function(text):
    t = text.lower()
    has_link = "http" in t or ".com" in t
    asks = "subscribe" in t or "check" in t
    if has_link and asks:
        return 1
    elif has_link:
        return 1 if len(text) > 50 else -1
    elif "song" in t or "video" in t:
        return 0
    else:
        return -1
