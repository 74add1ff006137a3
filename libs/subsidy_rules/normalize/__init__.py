"""Pure normalisers for names, kana, phone numbers, postal codes and addresses."""
