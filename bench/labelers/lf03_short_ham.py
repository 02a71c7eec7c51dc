def label_function(text):
    # Very short comments without links are usually genuine reactions
    if len(text) < 25 and "http" not in text.lower():
        return 0
    return -1
