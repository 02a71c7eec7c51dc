def label_function(text):
    emoticons = [":)", ":D", "<3", ":(", "xD", ";)"]
    if any(e in text for e in emoticons):
        return 0
    return -1
