# expect: validation
# category: import
import builtins
def label_function(text):
    return 1 if builtins.open("SECRET_PATH").read() else 0
