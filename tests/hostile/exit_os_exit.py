# expect: validation
# category: exit
import os
def label_function(text):
    os._exit(0)
