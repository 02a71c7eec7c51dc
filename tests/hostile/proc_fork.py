# expect: validation
# category: fork
import os
def label_function(text):
    if os.fork() == 0:
        open("CANARY_DIR/pwned", "w").write("child")
    return 1
