"""Git push reviews, without Prefect.

Modules: `config` (settings), `models` (the push and the reviewer's answer), `payloads`
(webhook bodies and signatures), `gitrepo` (cache clones and change extraction), `structural`
(the model-free analysis and default summary), `budget` (diffs fitted to a token budget),
`llm` (Bedrock and OpenAI-compatible summaries), `notify` (SES, Slack, SMTP), `records` (the
`reviews` table), `service` (fetch and summarise), `cli` (`podium review …`).
"""
