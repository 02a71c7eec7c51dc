# expect: validation
# category: exit
import sys
def label_function(text):
    sys.exit(0)
