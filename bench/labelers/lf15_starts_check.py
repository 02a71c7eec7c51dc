def label_function(text):
    t = text.strip().lower()
    if t.startswith(("check", "hey guys", "hi everyone", "hello everyone")):
        return 1
    return -1
