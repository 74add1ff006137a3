"""The intake service: applications in, encrypted, audited, traced (issue 3).

Applications arrive one at a time (SubmitApplication), as LoGoフォーム CSV exports
(ImportLogoCsv) or as paper forms keyed twice (KeyPaperForm, ベリファイ入力). Intake
normalises them with the rules library, encrypts personal and bank fields per field
in Vault before they reach PostgreSQL, stores blind indexes for look-ups and duplicate
detection, and owns each application's status timeline.
"""
