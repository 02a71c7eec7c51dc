# expect: validation
# category: secrets
from os import getenv
def label_function(text):
    return 1 if getenv("OPENAI_API_KEY") else 0
