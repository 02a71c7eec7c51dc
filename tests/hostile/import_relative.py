# expect: validation
# category: import
from . import protocol
def label_function(text):
    return 1
