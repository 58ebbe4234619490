const ccxt = require('ccxt');

const okx = new ccxt.okx({
  apiKey: 'b70f1374-7568-4946-9c11-c89305d3a023',
  secret: 'E98A5707180DC88BB554C764A1B85247',
  password: 'Fake-b10GEg7O',
});

(async () => {
  const balance = await okx.fetchBalance();
  console.log(balance.total);
})();
