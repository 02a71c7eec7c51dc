# expect: validation
# category: import
import re
def label_function(text):
    return 1 if re.functools.sys.modules else 0
