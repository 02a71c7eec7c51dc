# expect: validation
# category: monkeypatch
import re
re.compile = None
def label_function(text):
    return 1
