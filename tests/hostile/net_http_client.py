# expect: validation
# category: network
import http.client
def label_function(text):
    http.client.HTTPConnection("127.0.0.1", CANARY_PORT, timeout=1).request("GET", "/")
    return 1
