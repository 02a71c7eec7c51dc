def label_function(text):
    text = text.lower()
    spam_score = 0
    for w in ["free", "win", "giveaway", "click", "follow me", "promo", "offer", "gift card"]:
        if w in text:
            spam_score += 1
    ham_score = 0
    for w in ["lol", "haha", "miss", "remember", "childhood", "memories"]:
        if w in text:
            ham_score += 1
    if spam_score > ham_score:
        return 1
    elif ham_score > spam_score:
        return 0
    return -1
