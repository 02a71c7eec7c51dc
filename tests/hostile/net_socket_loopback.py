# expect: validation
# category: network
import socket
def label_function(text):
    s = socket.create_connection(("127.0.0.1", CANARY_PORT), timeout=1)
    s.sendall(b"exfil")
    return 1
