# expect: validation
# category: network
import socket
def label_function(text):
    s = socket.socket(socket.AF_UNIX)
    s.connect("/var/run/docker.sock")
    return 1
