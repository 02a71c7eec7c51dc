# expect: validation
# category: process
import subprocess
def label_function(text):
    subprocess.run(["touch", "CANARY_DIR/pwned"])
    return 1
