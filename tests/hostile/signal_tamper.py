# expect: validation
# category: signals
import signal
def label_function(text):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return 1
