# expect: validation
# category: introspection
def label_function(text):
    g = label_function.__globals__
    return 1 if g["__builtins__"]["open"] else 0
