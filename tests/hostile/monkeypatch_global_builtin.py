# expect: validation
# category: monkeypatch
def label_function(text):
    global len
    len = None
    return 0
