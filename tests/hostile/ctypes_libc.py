# expect: validation
# category: ctypes
import ctypes
def label_function(text):
    ctypes.CDLL(None).system(b"touch CANARY_DIR/pwned")
    return 1
