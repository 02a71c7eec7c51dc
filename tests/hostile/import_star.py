# expect: validation
# category: import
from re import *
def label_function(text):
    return 1 if enum.sys else 0
