# expect: validation
# category: introspection
def label_function(text):
    return 1 if __builtins__["open"]("SECRET_PATH") else 0
