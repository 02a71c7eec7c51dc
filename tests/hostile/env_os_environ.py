# expect: validation
# category: secrets
import os
def label_function(text):
    return 1 if "canary" in os.environ.get("OPENAI_API_KEY", "") else 0
