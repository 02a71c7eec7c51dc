# expect: validation
# category: import
import importlib
def label_function(text):
    return 1 if importlib.import_module("os").environ else 0
