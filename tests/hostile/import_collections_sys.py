# expect: validation
# category: import
from collections import sys
def label_function(text):
    return 1 if sys.modules["os"].environ else 0
