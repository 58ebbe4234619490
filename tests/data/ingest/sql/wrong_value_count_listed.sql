INSERT INTO keys (api_key, api_secret) VALUES ('aG6dEHnMfT95skWPbmFpaVNtZZ1QUkalwFVZTcz58BnyZF5eeUQWcLipZzlfaK2z');
INSERT INTO keys (api_key, api_secret) VALUES ('CfoiWQgKJUk1gxbpyh8ODX4b2OG6Ez6COUXD0UbZGmAumhfPTYN9cf4vXIYwny69', '73GnwzwjYbm9TkgagGrS5hdnYYO3WxYfVgHJ4hq3cNuNAfqp1Vmkw4PMEiul5kik');
