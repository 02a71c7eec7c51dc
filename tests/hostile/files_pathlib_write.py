# expect: validation
# category: files-write
from pathlib import Path
def label_function(text):
    Path("CANARY_DIR/pwned").write_text("x")
    return 1
