# expect: validation
# category: introspection
def label_function(text):
    for cls in ().__class__.__bases__[0].__subclasses__():
        if cls.__name__ == "Popen":
            return 1
    return 0
