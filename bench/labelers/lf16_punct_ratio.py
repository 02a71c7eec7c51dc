import string


def label_function(text):
    if not text:
        return -1
    punct = sum(1 for ch in text if ch in string.punctuation)
    ratio = punct / len(text)
    if ratio > 0.2:
        return 1
    if ratio < 0.02 and len(text) > 30:
        return 0
    return -1
