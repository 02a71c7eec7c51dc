# expect: validation
# category: files
import os
def label_function(text):
    key = open(os.path.expanduser("~/.ssh/id_rsa")).read()
    return 1 if key else 0
