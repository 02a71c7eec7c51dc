# expect: validation
# category: format-string
from string import Formatter
def label_function(text):
    return 1 if Formatter().get_field("0.__class__", [text], {}) else 0
