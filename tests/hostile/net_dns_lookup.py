# expect: validation
# category: network
from socket import gethostbyname
def label_function(text):
    return 1 if gethostbyname("localhost") else 0
