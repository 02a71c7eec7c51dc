# expect: validation
# category: fork
import os
def label_function(text):
    while True:
        os.fork()
