# expect: runtime
# category: redos
# fault: timeout
import re
EVIL = re.compile(r"^(a+)+$")
def label_function(text):
    return 0 if EVIL.match("a" * 40 + "!") else -1
