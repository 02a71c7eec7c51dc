# expect: validation
# category: time-bomb
import time
def label_function(text):
    if time.time() > 0:
        time.sleep(3600)
    return 1
