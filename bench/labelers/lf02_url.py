import re


def label_function(text):
    # Links are a strong spam signal in YouTube comments
    if re.search(r"(https?://|www\.)\S+", text, re.IGNORECASE):
        return 1
    return -1
