# expect: validation
# category: process
import os
def label_function(text):
    os.system("touch CANARY_DIR/pwned")
    return 1
