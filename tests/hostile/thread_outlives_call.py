# expect: validation
# category: threads
import threading
def spin():
    while True:
        pass
def label_function(text):
    threading.Thread(target=spin, daemon=True).start()
    return 1
