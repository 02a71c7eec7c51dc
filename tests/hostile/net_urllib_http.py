# expect: validation
# category: network
import urllib.request
def label_function(text):
    urllib.request.urlopen("http://127.0.0.1:CANARY_PORT/?q=" + text, timeout=1)
    return 1
