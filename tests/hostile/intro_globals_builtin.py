# expect: validation
# category: introspection
def label_function(text):
    return 1 if globals()["__builtins__"] else 0
