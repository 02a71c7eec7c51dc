def label_function(text):
    words = text.split()
    if len(words) > 40:
        return 1  # long self-promotional essays
    if 0 < len(words) <= 3:
        return 0
    return -1
