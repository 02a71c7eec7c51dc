# expect: validation
# category: import
import re
def label_function(text):
    os = re.enum.sys.modules["os"]
    return 1 if os.environ.get("OPENAI_API_KEY") else 0
