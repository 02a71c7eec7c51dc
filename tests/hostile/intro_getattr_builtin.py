# expect: validation
# category: introspection
def label_function(text):
    cls = getattr(text, "__cl" + "ass__")
    return 1 if cls else 0
