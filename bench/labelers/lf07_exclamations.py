def label_function(text):
    # Lots of exclamation marks suggest promotional spam
    if text.count("!") >= 3:
        return 1
    return -1
