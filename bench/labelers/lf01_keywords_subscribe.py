def label_function(text):
    """Spam comments ask viewers to subscribe or visit a channel."""
    spam_keywords = ["subscribe", "sub to", "check out my", "my channel", "visit my"]
    text_lower = text.lower()
    for keyword in spam_keywords:
        if keyword in text_lower:
            return 1
    return -1
